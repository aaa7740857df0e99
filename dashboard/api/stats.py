"""The stats action of the hosts, pools and VMs viewsets, and the counter catalogue endpoint.

`GET /api/{hosts|pools|vms}/{id}/stats/?counters=mem.granted.average,...&interval=20&start=&end=`
answers `{"interval", "start", "end", "timestamps": [ISO, oldest first], "series": {key: [...]}}`
(dashboard.stats explains the range rules). `GET /api/counters/[?entity=vm]` lists the catalogue.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from dashboard.counters import ENTITY_KINDS, ROLLUPS, catalogue_json
from dashboard.stats import MAX_COUNTERS, StatsQueryError, parse_query, run_query
from dashboard.stats_cache import answer_versions
from hostsim.models import INTERVALS

_STATS_PARAMETERS = [
    OpenApiParameter(
        "counters",
        str,
        description=(
            f"Comma-separated counter names with a rollup ({', '.join(ROLLUPS)}), at most "
            f"{MAX_COUNTERS}; default: the entity's Overview chart. See /api/counters/."
        ),
    ),
    OpenApiParameter(
        "interval",
        int,
        enum=list(INTERVALS),
        description="Sample interval in seconds (default 20).",
    ),
    OpenApiParameter(
        "start", OpenApiTypes.DATETIME, description="Exclusive start (ISO 8601; naive means UTC)."
    ),
    OpenApiParameter(
        "end", OpenApiTypes.DATETIME, description="Inclusive end; default: the latest sample."
    ),
]

_StatsResponse = inline_serializer(
    "StatsResponse",
    {
        "interval": serializers.IntegerField(),
        "start": serializers.DateTimeField(allow_null=True),
        "end": serializers.DateTimeField(allow_null=True),
        "timestamps": serializers.ListField(child=serializers.DateTimeField()),
        "series": serializers.DictField(
            child=serializers.ListField(child=serializers.FloatField(allow_null=True))
        ),
    },
)


class StatsActionMixin:
    """Mixed into a ModelViewSet: adds `GET {id}/stats/` for the viewset's entity kind.

    The viewset's own permission classes and queryset apply (`get_object`), so reading stats
    needs the same view permission as reading the object.
    """

    stats_entity_kind: str = ""

    @extend_schema(parameters=_STATS_PARAMETERS, responses=_StatsResponse)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        # get_object(), but reading only the key and the host: the stats need the entity's
        # existence and the viewset's checks, not its row and joins (dashboards poll this), and
        # the micro-cache in front of Django (dashboard.stats_cache) needs to know its host.
        kind = self.stats_entity_kind
        fields = ("pk",) if kind == "host" else ("pk", "host")
        queryset = self.filter_queryset(self.get_queryset()).select_related(None).only(*fields)
        lookup = self.lookup_url_kwarg or self.lookup_field
        entity = get_object_or_404(queryset, **{self.lookup_field: self.kwargs[lookup]})
        self.check_object_permissions(request, entity)
        try:
            query = parse_query(kind, entity.pk, request.query_params)
        except StatsQueryError as exc:
            raise ValidationError({name: [text] for name, text in exc.fields.items()}) from exc
        versions = answer_versions(kind, entity.pk, entity.pk if kind == "host" else entity.host_id)
        return Response(run_query(query), headers=versions)


class CounterCatalogueView(APIView):
    """The performance counters the lab keeps: name, label, unit, rollups, stats type, entities."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("entity", str, enum=list(ENTITY_KINDS))],
        responses=inline_serializer(
            "Counter",
            {
                "name": serializers.CharField(),
                "label": serializers.CharField(),
                "unit": serializers.CharField(),
                "rollups": serializers.ListField(child=serializers.CharField()),
                "statsType": serializers.CharField(),
                "entities": serializers.ListField(child=serializers.CharField()),
                "description": serializers.CharField(),
                "labOwn": serializers.BooleanField(),
                "colour": serializers.CharField(),
            },
            many=True,
        ),
    )
    def get(self, request):
        entity = request.query_params.get("entity")
        if entity is not None and entity not in ENTITY_KINDS:
            raise ValidationError({"entity": [f"Entity must be one of {', '.join(ENTITY_KINDS)}."]})
        return Response(catalogue_json(entity))
