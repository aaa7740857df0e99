"""Error pages (config.urls' handler400/403/404/500).

Under /api/ and /ws/ the answer is JSON in the API's shape (`{"error": "..."}`); elsewhere an
HTML page in the lab's layout. The 500 page uses no context processor and no database, so it
still renders when the database is what failed.
"""

from django.http import HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

_MACHINE_PREFIXES = ("/api/", "/ws/")


def _wants_json(request) -> bool:
    return request.path.startswith(_MACHINE_PREFIXES)


def _page(request, status: int, title: str, message: str):
    if _wants_json(request):
        return JsonResponse({"error": message}, status=status)
    context = {"status": status, "title": title, "message": message}
    return render(request, "errors/error.html", context, status=status)


@requires_csrf_token
def bad_request(request, exception=None):
    return _page(request, 400, "Bad request", "The request could not be understood.")


@requires_csrf_token
def permission_denied(request, exception=None):
    return _page(
        request,
        403,
        "No permission",
        "Your account may not see this object. Ask an administrator for the view permission.",
    )


@requires_csrf_token
def page_not_found(request, exception=None):
    return _page(request, 404, "Not found", "There is no such page or inventory object.")


@requires_csrf_token
def server_error(request):
    if _wants_json(request):
        return JsonResponse({"error": "Internal error; it has been logged."}, status=500)
    return HttpResponseServerError(loader.get_template("errors/500.html").render())
