"""Development and build tools that never ship: `python -m tools.new_domain`,
`python -m tools.rename`, `python -m tools.build_info`.

They live outside `app/` so the wheel and the image hold only what the service runs.
"""
