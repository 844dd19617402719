"""The evaluation harness: case files (``analyst eval``) and retrieval benchmarks (``analyst eval-retrieval``).

See docs/evaluation.md for what the figures mean and how to read a change.
"""
