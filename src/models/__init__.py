"""Pure model core: preprocessing, TabTransformer, contrastive pretraining, artifacts, inference.

Nothing in this package touches the database or the file system; callers pass frames,
tensors and bytes in and get the same back.
"""
