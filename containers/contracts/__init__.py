"""SageMaker file formats as typed models, one module per format, shared by every image."""
