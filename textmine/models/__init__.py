"""Topic models behind one seam (topicmodel.py) and their toolkit: terms, seeds, quality, the model store,
embeddings."""
