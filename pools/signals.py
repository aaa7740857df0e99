from django.dispatch import Signal

# Sent after commit whenever pools, VMs or power states of a host changed (kwargs: host_id).
inventory_changed = Signal()
