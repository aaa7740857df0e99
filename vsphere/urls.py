from django.urls import path

from vsphere import endpoint

urlpatterns = [
    path("sdk", endpoint.sdk, name="vsphere-sdk"),
    path("sdk/", endpoint.sdk),
    path("sdk/vimServiceVersions.xml", endpoint.service_versions, name="vsphere-service-versions"),
]
