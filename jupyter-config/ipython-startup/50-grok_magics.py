# Installed by grok-magics into {sys.prefix}/etc/ipython/startup/: loads %%grok in every IPython
# and Jupyter kernel of this environment. Set GROK_MAGICS_AUTOLOAD=0 to opt out.
def _load_grok_magics() -> None:
    import os

    if os.environ.get("GROK_MAGICS_AUTOLOAD", "1").strip().lower() in {"0", "false", "no", "off"}:
        return
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            # Not through the extension manager: it would mark the extension loaded, and a user's own
            # `%load_ext grok_magics` would then print "already loaded". This way that line is a silent no-op.
            from grok_magics import load_ipython_extension

            load_ipython_extension(shell)
    except Exception as exc:  # never break IPython start-up
        print(f"grok-magics: not loaded ({type(exc).__name__}: {exc})")


_load_grok_magics()
del _load_grok_magics
