import os

# Quiet TensorFlow's C++ logging in test output; set before TF is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
