"""The serving process: uvicorn and gunicorn configuration, warm-up, and the
database connection budget shared by the workers.
"""
