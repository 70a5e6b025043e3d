"""The review portal: people verify or adjust pre-labels in the browser (replaces the Ground Truth labeling portal).

- :mod:`~prelabel.review.db`: the SQLite store under a state folder
- :mod:`~prelabel.review.auth` and :mod:`~prelabel.review.workforce`: passwords, sessions, CSRF tokens, users and roles
- :mod:`~prelabel.review.review_jobs`: review jobs made from a labels file or a Ground Truth manifest, with their frames
- :mod:`~prelabel.review.tasks`: a job's frames given to workers; each worker's queue
- :mod:`~prelabel.review.responses`: workers' answers, checked and stored (:mod:`~prelabel.review.tasks3d` for 3D)
- :mod:`~prelabel.review.consolidate`: several workers' answers on one frame become one answer
- :mod:`~prelabel.review.export`: Ground Truth output manifests and labels files with review state
- :mod:`~prelabel.review.stats`: per-job pre-label quality figures
- :mod:`~prelabel.review.web`: ``create_portal_app(state_dir)``, the FastAPI app (imported only when served)
"""
