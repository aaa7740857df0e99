"""A Content-Security-Policy header on every response (Django 5.2 has none built in).

The pages load scripts only from /static/ and carry no inline script or on...= handler (the data a
page hands its script is `<script type="application/json">` from json_script, which is not run).
A response that already has the header (a view with needs of its own) keeps it.
"""

from django.core.exceptions import DisallowedHost

# Each directive, and why it allows what it allows.
_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",  # /static/js and Plotly from /static/vendor; nothing inline
    # Plotly sets style="" on the SVG it draws and injects a <style> element of its own; the
    # pages' own CSS comes from /static/css.
    "style-src": "'self' 'unsafe-inline'",
    "img-src": "'self' data: blob:",  # Plotly's PNG export builds a data: (or blob:) URL
    "font-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",  # as X_FRAME_OPTIONS = "DENY", for browsers that read only CSP
}


def policy_for(request) -> str:
    """The policy for one response: live feeds connect back to the host the page came from."""
    directives = dict(_DIRECTIVES)
    connect = "'self'"
    try:
        host = request.get_host()  # validated against ALLOWED_HOSTS: safe to put in a header
    except DisallowedHost:
        host = None
    if host:
        # 'self' covers ws: and wss: only in browsers that follow CSP level 3; name them too.
        connect += f" ws://{host} wss://{host}"
    directives["connect-src"] = connect
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy_for(request)
        return response
