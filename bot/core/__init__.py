"""The pure core: domain models, framework, scoring, citation checks and the pipeline.

Nothing in this package imports discord, langchain or chromadb; adapters live at the edge.
"""
