"""analyst-bot: scored, cited assessments of Russian military-intervention questions."""

__version__ = "0.1.0"
