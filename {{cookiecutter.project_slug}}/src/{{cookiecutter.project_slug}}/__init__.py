"""The {{ cookiecutter.project_slug }} service package."""
