"""Other formats -> specs: Keras models (`from_keras`) and Caffe prototxt (`caffe`)."""
