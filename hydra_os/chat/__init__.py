"""The one OpenAI-compatible chat client of Hydra (:mod:`hydra_os.chat.client`) and its errors.

A neutral package: the intake, the research and briefing pipelines and memory's fact extraction all
talk to a model through it, and none of them has to import another for it.
"""
