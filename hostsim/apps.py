from django.apps import AppConfig


class HostsimConfig(AppConfig):
    name = "hostsim"
    verbose_name = "Hosts and virtual machines"
