"""The skelrec web app (Gradio): ``skelrec app``, or :func:`app.main.build_app` / :func:`app.main.launch`."""
