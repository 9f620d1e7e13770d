"""Other formats <-> specs.

- `from_keras`: a functional or Sequential Keras model -> spec text (`to_spec`),
  the spec pipeline in reverse, one stage per module: `keras_graph` reads the
  model's graph (calls, shared layers, ops, nested models), `layer_arguments`
  reduces each layer's config to the arguments that matter, `spec_layout`
  orders the entries along chains and chooses the names written, and
  `from_keras` writes the spec and checks it by expanding it again.
- `caffe` (with its `prototxt` parser): a Caffe net definition -> spec text.
- `spec_writer`: a spec as plain data -> readable YAML, shared by both.
"""
