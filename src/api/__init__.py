"""FastAPI serving layer: ``uvicorn src.api.main:app`` (see ``src/api/main.py``)."""
