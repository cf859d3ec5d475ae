"""What the template's tests and the benchmark share: a rendered project
(project.py), a server started from it (server.py), and a throwaway
PostgreSQL (pgcluster.py). Nothing here imports from tests/ or bench/.
"""
