from django.urls import path

from dashboard.views import memory_maps, pages

app_name = "dashboard"

urlpatterns = [
    path("", pages.inventory, name="inventory"),
    path("inventory/tree/", pages.inventory_tree, name="inventory-tree"),
    path("inventory/header/<slug:kind>/<int:pk>/", pages.inventory_header, name="inventory-header"),
    path("hosts/<int:pk>/", pages.host_summary, name="host"),
    path("hosts/<int:pk>/performance/", pages.host_performance, name="host-performance"),
    path("hosts/<int:pk>/esxtop/", pages.host_esxtop, name="host-esxtop"),
    path("pools/<int:pk>/", pages.pool_summary, name="pool"),
    path("pools/<int:pk>/performance/", pages.pool_performance, name="pool-performance"),
    path("vms/<int:pk>/", pages.vm_summary, name="vm"),
    path("vms/<int:pk>/performance/", pages.vm_performance, name="vm-performance"),
    path("vms/<int:pk>/memory-map/", memory_maps.vm_memory_map, name="vm-memory-map"),
    path(
        "vms/<int:pk>/memory-map/data/",
        memory_maps.memory_map_data,
        {"kind": "vm"},
        name="vm-memory-map-data",
    ),
    path("hosts/<int:pk>/memory-map/", memory_maps.host_memory_map, name="host-memory-map"),
    path(
        "hosts/<int:pk>/memory-map/data/",
        memory_maps.memory_map_data,
        {"kind": "host"},
        name="host-memory-map-data",
    ),
]
