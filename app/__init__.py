"""The skelrec web app (Gradio), installed as the package ``skelrec_app``: ``skelrec app``, or
:func:`skelrec_app.main.build_app` / :func:`skelrec_app.main.launch`.

Nothing in :mod:`skelrec` imports it: the library knows no UI.
"""
