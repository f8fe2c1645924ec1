"""The stages of the story, one module each: resolve, queue, launch, watch, report.

Each holds its steps' bodies (the side effects, through the ports, returning records) and the
loop that repeats them; the decisions they take are the domain's (domain/).
"""
