"""ServiceInstance: the service content (the roots of everything else) and the clock."""

from datetime import UTC, datetime

from pyVmomi import vim

from vsphere import morefs, registry
from vsphere.inventory import ABOUT
from vsphere.soap import array_of


def service_content() -> vim.ServiceInstanceContent:
    return vim.ServiceInstanceContent(
        rootFolder=vim.Folder(morefs.ROOT_FOLDER),
        propertyCollector=morefs.PROPERTY_COLLECTOR,
        viewManager=morefs.VIEW_MANAGER,
        about=ABOUT,
        setting=morefs.VPX_SETTINGS,
        userDirectory=morefs.USER_DIRECTORY,
        sessionManager=morefs.SESSION_MANAGER,
        authorizationManager=morefs.AUTHORIZATION_MANAGER,
        searchIndex=morefs.SEARCH_INDEX,
        taskManager=morefs.TASK_MANAGER,
        perfManager=morefs.PERF_MANAGER,
    )


@registry.method("ServiceInstance", "RetrieveServiceContent")
def retrieve_service_content(call: registry.Call):
    return service_content()


@registry.method("ServiceInstance", "CurrentTime")
def current_time(call: registry.Call):
    return datetime.now(UTC)


@registry.properties("ServiceInstance")
def service_instance_property(mo, path: str):
    if path == "content":
        return service_content()
    if path == "serverClock":
        return datetime.now(UTC)
    if path == "capability":
        return vim.Capability(
            provisioningSupported=False,
            multiHostSupported=True,
            userShellAccessSupported=False,
            supportedEVCMode=array_of(vim.EVCMode),
            networkBackupAndRestoreSupported=False,
        )
    raise registry.InvalidProperty(path)


@registry.properties("TaskManager")
def task_manager_property(mo, path: str):
    if path == "recentTask":
        return array_of(vim.Task)
    if path == "maxCollector":
        return 32
    raise registry.InvalidProperty(path)


@registry.properties("AuthorizationManager")
def authorization_manager_property(mo, path: str):
    if path == "roleList":
        return array_of(vim.AuthorizationManager.Role)
    if path == "privilegeList":
        return array_of(vim.AuthorizationManager.Privilege)
    raise registry.InvalidProperty(path)
