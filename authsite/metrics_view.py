"""``/metrics``: Prometheus exposition for operators only.

Readable from ``AUTHSITE_METRICS_ALLOWED_NETWORKS`` (client address resolved
through trusted proxies only) or with ``Authorization: Bearer
<AUTHSITE_METRICS_TOKEN>``; 403 for anyone else.
"""

from __future__ import annotations

import hmac

from django_prometheus.exports import ExportToDjangoView

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from common.conf import authsite_settings
from common.net import in_networks


def has_metrics_access(request) -> bool:
    expected = authsite_settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if expected and header[:7].lower() == "bearer ":
        # Compare the whole token in constant time (CVE-2024-52307 leaked a
        # secret through a timing difference on a metrics endpoint).
        return hmac.compare_digest(header[7:].strip().encode(), expected.encode())
    networks = tuple(authsite_settings.METRICS_ALLOWED_NETWORKS)
    return bool(networks) and in_networks(getattr(request, "client_ip", ""), networks)


@csrf_exempt
@never_cache
@require_safe
def metrics(request):
    if not has_metrics_access(request):
        return JsonResponse(
            {"error": "forbidden", "detail": "metrics are not available to this caller"},
            status=403,
        )
    return ExportToDjangoView(request)
