"""``update``: mirror an upstream index, incrementally, resumably, exactly.

- ``options``: the ``[update]`` section and command-line flags, checked once;
- ``client``: the upstream's HTTP and XML-RPC, with timeouts and retries;
- ``pages``: reading the upstream's simple pages and JSON API, validated;
- ``filters`` and ``requirements``: what part of the upstream to mirror;
- ``plan``: what changed upstream, project by project;
- ``apply``: downloading, verifying and cataloguing through ``core.services``;
- ``lock`` and ``state``: one run at a time, and how far the last one got;
- ``runner``: the whole run, as ``update`` calls it.
"""
