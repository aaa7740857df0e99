"""pyVmomi against the running lab (uvicorn over HTTP and HTTPS, a Celery worker, beat): what a
vSphere admin's scripts do, compared with what the JSON API says about the same objects."""

import base64
import http.client
import json
import time
import urllib.error
import urllib.request

import pytest
from pyVim.task import WaitForTask
from pyVmomi import SoapAdapter, vim, vmodl

from tests.labprocs import wait_until
from vsphere import soap

pytestmark = [pytest.mark.celery, pytest.mark.slow]

PC = vmodl.query.PropertyCollector
PASSWORD = "lab-password-1"


def api_post(sdk, path: str, body: dict | None = None):
    request = urllib.request.Request(
        sdk.lab.url + path, data=json.dumps(body or {}).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header(
        "Authorization", "Basic " + base64.b64encode(f"admin:{PASSWORD}".encode()).decode()
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def container_view(si, kind):
    content = si.RetrieveContent()
    return content.viewManager.CreateContainerView(content.rootFolder, [kind], True)


@pytest.mark.parametrize("https", [False, True], ids=["http", "https"])
def test_pyvmomi_connects_and_sees_itself_logged_in(sdk, https):
    si = sdk.connect(https=https)
    content = si.RetrieveContent()
    assert content.about.apiType == "VirtualCenter" and content.about.apiVersion == soap.VERSION_ID
    assert content.sessionManager.currentSession.userName == "admin"
    assert abs(si.CurrentTime().timestamp() - time.time()) < 60


def test_the_inventory_walks_as_on_a_vcenter(sdk):
    si = sdk.connect()
    content = si.RetrieveContent()
    (datacenter,) = content.rootFolder.childEntity
    (compute,) = [cr for cr in datacenter.hostFolder.childEntity if cr.name == "esx-sdk"]
    assert isinstance(compute, vim.ComputeResource)
    (host,) = compute.host
    assert host.name == "esx-sdk" and host.summary.hardware.memorySize == 16384 * 1024 * 1024
    assert compute.resourcePool.name == "Resources" and compute.resourcePool.parent == compute
    assert [p.name for p in compute.resourcePool.resourcePool] == ["Fixed"]
    assert compute.datastore == host.datastore and len(host.datastore) == 1
    vm_names = {vm.name for vm in datacenter.vmFolder.childEntity}
    assert {"web-01", "idle-01", "too-big"} <= vm_names
    view = container_view(si, vim.VirtualMachine)
    by_name = {vm.name: vm for vm in view.view}
    assert by_name["too-big"].resourcePool.name == "Fixed"
    assert by_name["too-big"] in compute.resourcePool.resourcePool[0].vm
    assert (
        by_name["web-01"].runtime.host == host and by_name["web-01"].parent == datacenter.vmFolder
    )
    assert content.searchIndex.FindByInventoryPath("vmemlab/vm/web-01") == by_name["web-01"]
    assert content.searchIndex.FindChild(datacenter.vmFolder, "idle-01") == by_name["idle-01"]
    assert content.searchIndex.FindChild(datacenter.vmFolder, "nobody") is None
    view.DestroyView()
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        view.view  # noqa: B018  (a property read is a call)


def _latest_vm_sample(sdk, vm_id):
    body = sdk.api(
        f"/api/vms/{vm_id}/stats/?counters=mem.granted.average,mem.active.average,"
        "mem.consumed.average,mem.overhead.average,mem.shared.average&interval=20"
    )
    if not body["timestamps"]:
        return None
    return body["timestamps"][-1], {name: values[-1] for name, values in body["series"].items()}


def test_quick_stats_are_the_latest_samples_in_mb(sdk):
    si = sdk.connect()
    vm = sdk.vm(si, "web-01")
    vm_id = sdk.ids["web-01"]
    wait_until(lambda: _latest_vm_sample(sdk, vm_id), 60, "no samples of web-01 arrived")
    for _ in range(20):  # a tick may land between the two reads: then read both again
        before = _latest_vm_sample(sdk, vm_id)
        stats = vm.summary.quickStats
        after = _latest_vm_sample(sdk, vm_id)
        if before[0] == after[0]:
            break
    values = after[1]
    assert stats.grantedMemory == values["mem.granted.average"] // 1024 > 0
    assert stats.guestMemoryUsage == values["mem.active.average"] // 1024
    assert (
        stats.hostMemoryUsage
        == values["mem.consumed.average"] // 1024 + values["mem.overhead.average"] // 1024
    )
    assert stats.sharedMemory == values["mem.shared.average"] // 1024
    assert stats.guestHeartbeatStatus == "green"
    assert sdk.vm(si, "too-big").summary.quickStats.grantedMemory == 0  # powered off


def test_pools_are_created_updated_moved_and_destroyed(sdk):
    si = sdk.connect(https=True)
    root = sdk.pool(si, "Resources")
    spec = vim.ResourceConfigSpec(
        cpuAllocation=vim.ResourceAllocationInfo(
            reservation=0,
            limit=-1,
            expandableReservation=True,
            shares=vim.SharesInfo(level="normal", shares=0),
        ),
        memoryAllocation=vim.ResourceAllocationInfo(
            reservation=1024,
            limit=-1,
            expandableReservation=True,
            shares=vim.SharesInfo(level="high", shares=0),
        ),
    )
    pool = root.CreateResourcePool("sdk-pool", spec)
    pool_id = int(pool._moId.removeprefix("resgroup-"))
    api = sdk.api(f"/api/pools/{pool_id}/")
    assert api["name"] == "sdk-pool" and api["parent"] == sdk.ids["Resources"]
    assert (
        api["memoryAllocation"]["reservation"] == 1024
        and api["memoryAllocation"]["shares"]["level"] == "high"
    )
    with pytest.raises(vim.fault.DuplicateName):
        root.CreateResourcePool("sdk-pool", spec)

    pool.UpdateConfig(
        name="sdk-renamed",
        config=vim.ResourceConfigSpec(
            cpuAllocation=vim.ResourceAllocationInfo(),
            memoryAllocation=vim.ResourceAllocationInfo(
                reservation=2048, expandableReservation=False
            ),
        ),
    )
    api = sdk.api(f"/api/pools/{pool_id}/")
    assert api["name"] == "sdk-renamed" and api["memoryAllocation"]["reservation"] == 2048
    assert (
        api["memoryAllocation"]["expandableReservation"] is False
        and pool.config.memoryAllocation.reservation == 2048
    )
    runtime = api["runtime"]["memory"]
    assert (
        pool.runtime.memory.unreservedForVm == runtime["unreservedForVm"] * 1024 * 1024
    )  # bytes, as the API's
    assert (
        root.runtime.memory.reservationUsed
        == sdk.api(f"/api/pools/{sdk.ids['Resources']}/")["runtime"]["memory"]["reservationUsed"]
        * 1024
        * 1024
    )

    pool.MoveIntoResourcePool([sdk.vm(si, "idle-01")])
    assert sdk.api(f"/api/vms/{sdk.ids['idle-01']}/")["resourcePool"] == pool_id
    assert sdk.vm(si, "idle-01").resourcePool == pool

    task = pool.Destroy_Task()
    WaitForTask(task)
    assert task.info.state == "success" and task.info.entityName == "sdk-renamed"
    assert sdk.api(f"/api/vms/{sdk.ids['idle-01']}/")["resourcePool"] == sdk.ids["Resources"]
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        pool.name  # noqa: B018


def test_a_refused_power_on_ends_its_task_with_the_json_apis_numbers(sdk):
    si = sdk.connect()
    vm = sdk.vm(si, "too-big")
    task = vm.PowerOnVM_Task()
    with pytest.raises(vim.fault.InsufficientMemoryResourcesFault) as refused:
        WaitForTask(task)
    status, body = api_post(sdk, f"/api/vms/{sdk.ids['too-big']}/power-on/")
    assert status == 409
    # The same figures, in bytes as the vSphere API gives memory faults (the JSON API says MB).
    assert (refused.value.unreserved, refused.value.requested) == (
        body["unreserved"] * 1024 * 1024,
        body["requested"] * 1024 * 1024,
    )
    assert task.info.state == "error" and isinstance(
        task.info.error, vim.fault.InsufficientMemoryResourcesFault
    )
    assert vm.runtime.powerState == "poweredOff"
    running = sdk.vm(si, "web-01")
    with pytest.raises(vim.fault.InvalidPowerState):
        WaitForTask(running.PowerOnVM_Task())
    WaitForTask(running.PowerOffVM_Task())
    assert sdk.api(f"/api/vms/{sdk.ids['web-01']}/")["powerState"] == "poweredOff"


def test_reconfigure_sets_page_sharing_and_the_memory_allocation(sdk):
    si = sdk.connect()
    vm = sdk.vm(si, "idle-01")
    WaitForTask(
        vm.ReconfigVM_Task(
            vim.vm.ConfigSpec(
                extraConfig=[vim.option.OptionValue(key="sched.mem.pshare.enable", value="FALSE")],
                memoryAllocation=vim.ResourceAllocationInfo(reservation=256),
            )
        )
    )
    api = sdk.api(f"/api/vms/{sdk.ids['idle-01']}/")
    assert api["pshareEnabled"] is False and api["memoryAllocation"]["reservation"] == 256
    assert {o.key: o.value for o in vm.config.extraConfig}["sched.mem.pshare.enable"] == "FALSE"
    with pytest.raises(vmodl.fault.InvalidArgument):
        WaitForTask(
            vm.ReconfigVM_Task(
                vim.vm.ConfigSpec(memoryAllocation=vim.ResourceAllocationInfo(reservation=4096))
            )
        )
    assert sdk.api(f"/api/vms/{sdk.ids['idle-01']}/")["memoryAllocation"]["reservation"] == 256


def test_host_advanced_settings_through_the_option_manager(sdk):
    si = sdk.connect()
    host = vim.HostSystem(f"host-{sdk.host_id}", si._stub)
    options = host.configManager.advancedOption
    assert {o.key for o in options.QueryOptions("Mem.")} >= {
        "Mem.ShareScanTime",
        "Mem.ShareForceSalting",
    }
    options.UpdateOptions([vim.option.OptionValue(key="Mem.ShareScanTime", value=120)])
    assert sdk.api(f"/api/hosts/{sdk.host_id}/")["advancedSettings"]["Mem.ShareScanTime"] == 120
    assert options.QueryOptions("Mem.ShareScanTime")[0].value == 120
    with pytest.raises(vim.fault.InvalidName):
        options.UpdateOptions([vim.option.OptionValue(key="Mem.NoSuchSetting", value=1)])
    with pytest.raises(vmodl.fault.InvalidArgument):
        options.UpdateOptions([vim.option.OptionValue(key="Mem.ShareScanTime", value=5)])
    assert sdk.api(f"/api/hosts/{sdk.host_id}/")["advancedSettings"]["Mem.ShareScanTime"] == 120


def test_wait_for_updates_reports_each_tick(sdk):
    si = sdk.connect()
    collector = si.RetrieveContent().propertyCollector.CreatePropertyCollector()
    collector.CreateFilter(
        PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=sdk.vm(si, "web-01"))],
            propSet=[
                PC.PropertySpec(type=vim.VirtualMachine, pathSet=["summary.quickStats", "name"])
            ],
        ),
        partialUpdates=False,
    )
    first = collector.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=10))
    (update,) = first.filterSet[0].objectSet
    assert update.kind == "enter" and {c.name for c in update.changeSet} == {
        "summary.quickStats",
        "name",
    }
    started = time.monotonic()
    second = collector.WaitForUpdatesEx(first.version, PC.WaitOptions(maxWaitSeconds=30))
    assert second is not None and time.monotonic() - started < 15  # the next tick woke it
    (update,) = second.filterSet[0].objectSet
    assert update.kind == "modify" and [c.name for c in update.changeSet] == ["summary.quickStats"]
    assert second.version != first.version
    collector.DestroyPropertyCollector()


def test_wait_for_updates_honours_max_wait_seconds(sdk):
    si = sdk.connect()
    collector = si.RetrieveContent().propertyCollector.CreatePropertyCollector()
    collector.CreateFilter(
        PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=sdk.vm(si, "too-big"))],
            propSet=[
                PC.PropertySpec(type=vim.VirtualMachine, pathSet=["name", "runtime.powerState"])
            ],
        ),
        partialUpdates=False,
    )
    first = collector.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0))
    started = time.monotonic()
    assert collector.WaitForUpdatesEx(first.version, PC.WaitOptions(maxWaitSeconds=2)) is None
    assert 1.8 < time.monotonic() - started < 6
    assert collector.WaitForUpdatesEx(first.version, PC.WaitOptions(maxWaitSeconds=0)) is None


def test_logging_out_ends_the_session(sdk):
    si = sdk.connect()
    content = si.RetrieveContent()
    content.sessionManager.Logout()
    with pytest.raises(vim.fault.NotAuthenticated):
        content.rootFolder.childEntity  # noqa: B018
    with pytest.raises(vim.fault.InvalidLogin):
        sdk.connect(password="not-the-password")


def test_a_chunked_request_body_is_read_whole(sdk):
    """govc sends its requests with Transfer-Encoding: chunked."""
    info = vim.ServiceInstance._GetMethodInfo("RetrieveContent")
    body = SoapAdapter.SoapStubAdapter(host="x", version=soap.VERSION).SerializeRequest(
        vim.ServiceInstance("ServiceInstance"), info, []
    )
    connection = http.client.HTTPConnection(sdk.lab.host, sdk.lab.port, timeout=10)
    connection.putrequest("POST", "/sdk")
    connection.putheader("Content-Type", "text/xml; charset=utf-8")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    for start in range(0, len(body), 50):
        chunk = body[start : start + 50]
        connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    connection.send(b"0\r\n\r\n")
    response = connection.getresponse()
    assert response.status == 200
    content = SoapAdapter.SoapResponseDeserializer(None).Deserialize(response.read(), info.result)
    assert content.rootFolder == vim.Folder("group-d1")


def test_parallel_calls_on_one_session_lose_nothing(sdk):
    """vmware_exporter calls from several threads on one connection."""
    from concurrent.futures import ThreadPoolExecutor

    si = sdk.connect()
    content = si.RetrieveContent()

    def make_view(_):
        view = content.viewManager.CreateContainerView(
            content.rootFolder, [vim.VirtualMachine], True
        )
        return view, {vm.name for vm in view.view}

    with ThreadPoolExecutor(max_workers=8) as pool:
        made = list(pool.map(make_view, range(16)))
    assert all({"web-01", "idle-01", "too-big"} <= names for _, names in made)
    assert sorted(v._moId for v in content.viewManager.viewList) == sorted(v._moId for v, _ in made)
