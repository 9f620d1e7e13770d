"""Other formats <-> specs.

- `from_keras`: a functional or Sequential Keras model -> spec text (`to_spec`).
- `caffe` (with its `prototxt` parser): a Caffe net definition -> spec text.
- `spec_writer`: a spec as plain data -> readable YAML, shared by both.
"""
