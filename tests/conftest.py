import os

# Quiet TensorFlow's C++ logging in test output; set before TF is imported.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_report_header(config):
    """Names the Keras backend when `KERAS_BACKEND` picks one (the layer tests
    run on TensorFlow, JAX and PyTorch; see tests/backends/)."""
    backend = os.environ.get("KERAS_BACKEND")
    if backend:
        return f"keras backend: {backend} (KERAS_BACKEND)"
    return None
