"""The {{ cookiecutter.project_slug }} service package."""

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}
