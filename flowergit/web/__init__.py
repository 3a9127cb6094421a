"""`git flower web`: the fleet in a browser (the optional ``web`` extra).

A local web application over the same ops layer as the CLI, in the long-lived process
`git flower web` starts:

1. :mod:`.server` binds the socket (loopback unless told otherwise, with explicit auth), makes
   the session and prints the URL that carries its token;
2. :mod:`.app` assembles the Starlette application: the session gate of every request
   (:mod:`.security`), then the routes;
3. :mod:`.pages` renders what the read commands read, :mod:`.actions` runs what the write
   commands run, both through ``flowergit.ops``; :mod:`.jobs` follows a merge while its suite
   runs;
4. :mod:`.live` watches the flower refs and streams changes and logs to the pages;
5. :mod:`.render` turns data into HTML with everything escaped (templates under
   ``templates/``, htmx and the page script under ``static/``, shipped in the wheel).

Nothing here runs git: reads and writes go through ``flowergit.ops`` (and so through
``flowergit.gitio``). Nothing outside `git flower web` imports this package.
"""
