"""The spec pipeline: text -> parse -> schema -> expand -> graph -> Keras model."""
