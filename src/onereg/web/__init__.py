"""The web explorer: every node serves it at `/ui/` on its RDAP port, from its own database and
its verified mirrors, with no internet.

Plain HTML, CSS, a canvas and a little vanilla JavaScript, all shipped in `static/` (package
data), rather than a front-end framework: there is no build step and no npm, so the README's two
commands still do all the set-up and nothing is fetched from a CDN; the pages are small enough
(a lookup form, a table or two, one canvas) that a framework would add more than it saves; and a
strict Content-Security-Policy (`default-src 'self'`, no inline script) holds. The map is drawn
on a canvas from 64 KiB tiles the node cuts once per state of the logs (`tiles`), because one DOM
or SVG element per cell (65,536 of them) could not be drawn in the one second allowed.

Layer: an interface above `http` (its routes run in the node's app and pools and use RDAP's
building blocks); only `cli` imports it.
"""
