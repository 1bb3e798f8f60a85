# Test harness only, loaded into moto_server through PYTHONPATH (see test/harness/moto.ts).
# moto's EventBridge compiles the same JSONPath expressions again for every event and
# rule it routes (about 10 ms each), which makes one PutEvents call take seconds.
# Caching the compiled expressions changes no behaviour: they are stateless.
import functools

try:
    import jsonpath_ng.ext as _jsonpath_ext

    _jsonpath_ext.parse = functools.lru_cache(maxsize=512)(_jsonpath_ext.parse)
except Exception:  # an older or newer moto without jsonpath_ng: nothing to speed up
    pass

# moto's EventBridge flattens an event's objects into dotted keys but stops at arrays, so
# a pattern that reaches into an array of objects never matches. EventBridge matches
# such a pattern when any element matches (e.g. `CloudWatch Alarm State Change` has
# `detail.configuration.metrics[].metricStat.metric.name`). This teaches the flattening
# to collect, for each dotted key under an array of objects, the list of its values,
# which moto's matcher already treats as "any of".
try:
    from moto.events.models import EventPattern as _EventPattern

    _original_flatten = _EventPattern._flatten_dict

    def _flatten_with_arrays(node, prefix="", result=None):
        result = _original_flatten(node, prefix, result)
        for key, value in list(result.items()):
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                collected = {}
                for element in value:
                    for k, v in _flatten_with_arrays(element, key).items():
                        collected.setdefault(k, []).extend(v if isinstance(v, list) else [v])
                result.update(collected)
        return result

    _EventPattern._flatten_dict = staticmethod(_flatten_with_arrays)
except Exception:  # a moto without this class: nothing to teach
    pass

# Speed-ups that change no behaviour, found by profiling moto_server under a 200-instance
# nightly run (cProfile, non-threaded server). Each replaces a computation moto repeats on
# every request or every item with one it already has at hand. Each is skipped when the
# moto in use does not have what it replaces.

# Every request lists moto's package directory (hundreds of stat calls) to see whether the
# Host header names a service: the directory does not change while the server runs.
try:
    from moto import backends as _backends

    _moto_modules = tuple(_backends.list_of_moto_modules())
    _backends.list_of_moto_modules = lambda: iter(_moto_modules)
except Exception:
    pass

# Every request lists the methods of its response class with inspect.getmembers: a class's
# methods do not change while the server runs.
try:
    from moto.core import responses as _responses

    _responses.method_names_from_class = functools.lru_cache(maxsize=None)(_responses.method_names_from_class)
except Exception:
    pass

# An EC2 resource's tags are found by scanning every tag of the region with a regex per
# resource id (DescribeImages of n images is then quadratic). The tags are a dict keyed by
# resource id: read the resource's own entry, in the same shape.
try:
    from moto.ec2.models.core import TaggedEC2Resource as _TaggedEC2Resource
    from moto.ec2.utils import EC2_PREFIX_TO_RESOURCE as _EC2_PREFIX_TO_RESOURCE, get_prefix as _get_prefix

    def _get_tags(self):
        resource_id = getattr(self, "id", None)
        if not resource_id:
            return []
        tags = self.ec2_backend.tags.get(resource_id) or {}
        resource_type = _EC2_PREFIX_TO_RESOURCE.get(_get_prefix(resource_id), "")
        return [
            {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
            for key, value in list(tags.items())
        ]

    _TaggedEC2Resource.get_tags = _get_tags
except Exception:
    pass

# SQS checks each message's retention by building every attribute of its queue, one of
# which counts the queue's messages: receiving from a queue of n messages is quadratic.
# The retention period is one attribute of the queue.
try:
    from moto.sqs.models import SQSBackend as _SQSBackend
    from moto.core.utils import unix_time as _unix_time

    def _is_message_valid_based_on_retention_period(self, queue_name, message):
        queue = self.get_queue(queue_name)
        return int(queue.message_retention_period) + message.sent_timestamp / 1000 > _unix_time()

    _SQSBackend.is_message_valid_based_on_retention_period = _is_message_valid_based_on_retention_period
except Exception:
    pass

# A gap, not a speed-up: moto does not implement DeleteLaunchTemplateVersions (it answers an
# HTML error page), which the service calls to keep a lineage's template history bounded.
# A deleted version is kept as a tombstone so that moto's positional version numbers stay
# right (AWS never reuses a number either): describing it finds nothing, $Latest skips it.
try:
    from moto.core.responses import ActionResult as _ActionResult
    from moto.ec2.exceptions import InvalidLaunchTemplateVersionNotFound as _VersionNotFound
    from moto.ec2.models.launch_templates import (
        LaunchTemplate as _LaunchTemplate,
        LaunchTemplateBackend as _LaunchTemplateBackend,
    )
    from moto.ec2.responses.launch_templates import LaunchTemplates as _LaunchTemplatesResponse

    _original_get_version = _LaunchTemplate.get_version

    def _get_version(self, num):
        if str(num).lower() == "$latest":
            return self.latest_version()
        version = _original_get_version(self, num)
        if getattr(version, "deleted", False):
            raise _VersionNotFound(template_id=self.id, version=num)
        return version

    def _latest_version(self):
        live = [v for v in self.versions if not getattr(v, "deleted", False)]
        return live[-1] if live else self.versions[-1]

    _LaunchTemplate.get_version = _get_version
    _LaunchTemplate.latest_version = _latest_version

    _original_describe_versions = _LaunchTemplateBackend.describe_launch_template_versions

    def _describe_launch_template_versions(self, *args, **kwargs):
        return [(t, v) for (t, v) in _original_describe_versions(self, *args, **kwargs) if not getattr(v, "deleted", False)]

    _LaunchTemplateBackend.describe_launch_template_versions = _describe_launch_template_versions

    def _delete_launch_template_versions(self):
        name = self._get_param("LaunchTemplateName")
        template_id = self._get_param("LaunchTemplateId")
        numbers = self._get_param("Versions", []) or self._get_multi_param("LaunchTemplateVersion")
        self.error_on_dryrun()
        template = (
            self.ec2_backend.get_launch_template_by_name(name) if name else self.ec2_backend.get_launch_template(template_id)
        )
        deleted, refused = [], []
        for number in numbers:
            item = {"LaunchTemplateId": template.id, "LaunchTemplateName": template.name, "VersionNumber": int(number)}
            index = int(number) - 1
            if index < 0 or index >= len(template.versions) or getattr(template.versions[index], "deleted", False):
                refused.append({**item, "ResponseError": {"Code": "launchTemplateVersionDoesNotExist", "Message": f"version {number} does not exist"}})
            elif template.default_version_number == int(number):
                refused.append({**item, "ResponseError": {"Code": "launchTemplateVersionIsDefault", "Message": "the default version cannot be deleted"}})
            else:
                template.versions[index].deleted = True
                deleted.append(item)
        return _ActionResult(
            {"SuccessfullyDeletedLaunchTemplateVersions": deleted, "UnsuccessfullyDeletedLaunchTemplateVersions": refused}
        )

    _LaunchTemplatesResponse.delete_launch_template_versions = _delete_launch_template_versions
except Exception:
    pass

# A gap: moto reports the owner of every public address of an instance as the account, so an
# address EC2 assigned at launch looks like an Elastic IP the account allocated. AWS says
# "amazon" for those: only an allocated address carries the account (and an allocation id).
try:
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface as _NetworkInterface

    _original_association = _NetworkInterface.association.fget

    def _association(self):
        association = _original_association(self)
        if association and not association.get("allocationId"):
            association["ipOwnerId"] = "amazon"
        return association

    _NetworkInterface.association = property(_association)
except Exception:
    pass

# A gap: moto forgets the public address of every network interface whose subnet assigns
# public addresses when its instance stops, an associated Elastic IP included, so a stopped
# instance describes no association. AWS releases only the address it assigned at launch:
# "The Elastic IP address remains in place through events that normally cause the address to
# change, such as stopping or restarting the instance" (AWS Knowledge Center, "How do I associate
# a static public IP address with my EC2 instance?",
# https://aws.amazon.com/premiumsupport/knowledge-center/intro-elastic-ip-addresses/).
try:
    _original_nic_stop = _NetworkInterface.stop

    def _nic_stop(self):
        eips = self.ec2_backend.address_by_ip([self.public_ip], fail_if_not_found=False) if self.public_ip else []
        if any(getattr(eip, "eni", None) is self for eip in eips):
            return  # an Elastic IP stays associated through a stop
        _original_nic_stop(self)

    _NetworkInterface.stop = _nic_stop
except Exception:
    pass

# Gaps in the account-level reads of `ami-lifecycle doctor`: moto has no
# GetImageBlockPublicAccessState (nor Enable/DisableImageBlockPublicAccess) and no
# GetEbsDefaultKmsKeyId. The state is kept on moto's EC2 backend (per account and region), so
# resetting moto resets it. Defaults as AWS documents them for a new account: block public access
# on ("Understand block public access for AMIs": new accounts have it enabled,
# https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-public-access-to-amis.html), and the
# AWS managed key aws/ebs as the default key until ModifyEbsDefaultKmsKeyId names another (the AWS
# CLI reference's example of get-ebs-default-kms-key-id answers "alias/aws/ebs").
try:
    from moto.core.responses import ActionResult as _SettingsResult
    from moto.ec2.responses.settings import Settings as _SettingsResponse

    def _get_image_block_public_access_state(self):
        self.error_on_dryrun()
        state = getattr(self.ec2_backend, "harness_image_block_public_access", "block-new-sharing")
        return _SettingsResult({"ImageBlockPublicAccessState": state, "ManagedBy": "account"})

    def _enable_image_block_public_access(self):
        self.error_on_dryrun()
        # The API model admits only block-new-sharing: the proxy's model check refuses anything else.
        self.ec2_backend.harness_image_block_public_access = self._get_param("ImageBlockPublicAccessState")
        return _SettingsResult({"ImageBlockPublicAccessState": self.ec2_backend.harness_image_block_public_access})

    def _disable_image_block_public_access(self):
        self.error_on_dryrun()
        self.ec2_backend.harness_image_block_public_access = "unblocked"
        return _SettingsResult({"ImageBlockPublicAccessState": "unblocked"})

    def _get_ebs_default_kms_key_id(self):
        self.error_on_dryrun()
        return _SettingsResult({"KmsKeyId": getattr(self.ec2_backend, "default_kms_key_id", "") or "alias/aws/ebs"})

    _SettingsResponse.get_image_block_public_access_state = _get_image_block_public_access_state
    _SettingsResponse.enable_image_block_public_access = _enable_image_block_public_access
    _SettingsResponse.disable_image_block_public_access = _disable_image_block_public_access
    _SettingsResponse.get_ebs_default_kms_key_id = _get_ebs_default_kms_key_id
except Exception:
    pass

# Gaps in moto's CloudFormation that reading a deployed stack's IAM meets (test/harness/deploy-stack.ts):
# - an inline policy of an AWS::IAM::Role (its Policies property) is stored as Python's repr
#   of the document, so GetRolePolicy answers text with single quotes that is no JSON. IAM
#   keeps and returns the JSON document; store it as JSON.
# - Fn::GetAtt of an AWS::Logs::LogGroup's Arn lacks the trailing ":*" that CloudWatch Logs
#   puts on a log group's ARN ("LogGroup": "This version of the ARN includes a trailing :*
#   after the log group name", https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_LogGroup.html),
#   so a policy written with it would not match the log streams it names.
try:
    import json as _json
    from moto.iam.models import Role as _Role

    _original_role_put_policy = _Role.put_policy

    def _role_put_policy(self, policy_name, policy_json):
        if not isinstance(policy_json, str):
            policy_json = _json.dumps(policy_json)
        return _original_role_put_policy(self, policy_name, policy_json)

    _Role.put_policy = _role_put_policy
except Exception:
    pass

try:
    from moto.logs.models import LogGroup as _LogGroup

    _original_log_group_attribute = _LogGroup.get_cfn_attribute

    def _log_group_attribute(self, attribute_name):
        if attribute_name == "Arn":
            return f"{self.arn}:*"
        return _original_log_group_attribute(self, attribute_name)

    _LogGroup.get_cfn_attribute = _log_group_attribute
except Exception:
    pass

# A gap: moto's ListEventSourceMappings compares FunctionName with what the mapping was created
# with, so a mapping CloudFormation made with the function's ARN is not found by the function's
# name. Lambda takes a name, an ARN or a partial ARN there and finds the function's mappings
# ("ListEventSourceMappings": FunctionName, "Name formats",
# https://docs.aws.amazon.com/lambda/latest/api/API_ListEventSourceMappings.html).
try:
    from moto.awslambda.models import LambdaBackend as _LambdaBackend

    def _function_name_of(value):
        if ":function:" in value:
            return value.split(":function:", 1)[1].split(":")[0]
        return value.split(":")[-1] if ":" in value else value

    def _list_event_source_mappings(self, event_source_arn, function_name):
        esms = list(self._event_source_mappings.values())
        if event_source_arn:
            esms = [x for x in esms if x.event_source_arn == event_source_arn]
        if function_name:
            esms = [x for x in esms if _function_name_of(x.function_name) == _function_name_of(function_name)]
        return esms

    _LambdaBackend.list_event_source_mappings = _list_event_source_mappings
except Exception:
    pass

# Gaps in moto's EventBridge Scheduler that a schedule's life meets (test/harness/moto-gaps/schedules.ts):
# - UpdateSchedule "uses all values, including empty values, specified in the request and overrides
#   the existing schedule ... if you do not set an optional field in your request, that field will
#   be set to its system-default value" (https://docs.aws.amazon.com/scheduler/latest/APIReference/API_UpdateSchedule.html).
#   moto never reads ActionAfterCompletion on an update (the old value stays) and stores an omitted
#   State as nothing; the defaults are NONE and ENABLED ("CreateSchedule": State, ActionAfterCompletion).
# - CreateSchedule without ActionAfterCompletion stores nothing where GetSchedule reports NONE.
try:
    from moto.scheduler.models import Schedule as _Schedule
    from moto.scheduler.responses import EventBridgeSchedulerResponse as _SchedulerResponse

    _original_schedule_init = _Schedule.__init__

    def _schedule_init(self, *args, **kwargs):
        _original_schedule_init(self, *args, **kwargs)
        self.action_after_completion = self.action_after_completion or "NONE"

    _Schedule.__init__ = _schedule_init

    _original_update_schedule = _SchedulerResponse.update_schedule

    def _update_schedule(self):
        answer = _original_update_schedule(self)
        schedule = self.scheduler_backend.get_schedule(self._get_param("GroupName"), self.uri.split("?")[0].split("/")[-1])
        schedule.state = self._get_param("State") or "ENABLED"
        schedule.action_after_completion = self._get_param("ActionAfterCompletion") or "NONE"
        return answer

    _SchedulerResponse.update_schedule = _update_schedule
except Exception:
    pass

# Gaps in moto's CreateImage (issue 14, test/integration/image-volumes.test.ts):
# - moto ignores the instance's volumes and the request's BlockDeviceMappings: every image gets one
#   stand-in snapshot of a 15 GiB volume at /dev/sda1. AWS snapshots "the root volume and ... other
#   Amazon EBS volumes that are attached to the instance" (API reference, CreateImage,
#   TagSpecification.N, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html),
#   each at its device; and a mapping with NoDevice omits its device: "To omit the device from the
#   block device mapping, specify an empty string" (BlockDeviceMapping,
#   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_BlockDeviceMapping.html). Here an image
#   gets one snapshot per attached volume but the omitted devices, the volume's size, type and
#   encryption, and the instance's root device name.
# - an instance launched without block device mappings gets its root volume at /dev/sda1 whatever
#   its RootDeviceName says (/dev/xvda for moto's base image); AWS attaches it at the root device.
try:
    from moto.core.responses import ActionResult as _ActionResult
    from moto.ec2.models.amis import Ami as _Ami, AmiBackend as _AmiBackend
    from moto.ec2.models.instances import Instance as _Instance
    from moto.ec2.responses.amis import AmisResponse as _AmisResponse

    def _setup_defaults(self):
        volume = self.ec2_backend.create_volume(size=8, zone_name=self._placement.zone)
        self.ec2_backend.attach_volume(volume.id, self.id, self.root_device_name or "/dev/sda1", True)

    _Instance.setup_defaults = _setup_defaults

    _original_create_image = _AmiBackend.create_image

    def _create_image(self, instance_id, name, description, tag_specifications, block_device_mappings=None):
        ami = _original_create_image(self, instance_id, name, description, tag_specifications)
        instance = self.get_instance(instance_id)
        omitted = {m.get("DeviceName") for m in (block_device_mappings or []) if m.get("NoDevice") is not None}
        self.snapshots.pop(ami.ebs_snapshot.id, None)  # moto's stand-in
        mappings = []
        for device, block in list(instance.block_device_mapping.items()):
            if device in omitted:
                continue
            volume = self.get_volume(block.volume_id)
            snapshot = self.create_snapshot(
                volume.id, f"Created by CreateImage({instance_id}) for {ami.id}", ami.owner_id, from_ami=ami.id
            )
            ebs = {
                "SnapshotId": snapshot.id,
                "VolumeSize": volume.size,
                "DeleteOnTermination": bool(block.delete_on_termination),
                "VolumeType": volume.volume_type,
                "Encrypted": bool(volume.encrypted),
            }
            mappings.append({"DeviceName": device, "Ebs": ebs})
        ami.harness_mappings = mappings
        ami.root_device_name = instance.root_device_name or ami.root_device_name
        ami.root_device_type = "ebs"
        return ami

    _AmiBackend.create_image = _create_image
    _original_mappings = _Ami.block_device_mappings

    def _mappings(self):
        return self.harness_mappings if hasattr(self, "harness_mappings") else _original_mappings.fget(self)

    _Ami.block_device_mappings = property(_mappings)

    def _create_image_response(self):
        self.error_on_dryrun()
        image = self.ec2_backend.create_image(
            self._get_param("InstanceId"),
            self._get_param("Name"),
            self._get_param("Description", ""),
            tag_specifications=self._get_param("TagSpecifications", []),
            block_device_mappings=self._get_param("BlockDeviceMappings", []),
        )
        return _ActionResult({"ImageId": image.id})

    _AmisResponse.create_image = _create_image_response
except Exception:
    pass

# Gap in moto's RunInstances (issue 15, test/integration/verification.test.ts): a block device
# mapping that names a device of the image and changes only DeleteOnTermination is refused
# (MissingParameter: size or snapshotId). EC2 takes it: the volume is made from the image's
# snapshot, with the launch's DeleteOnTermination ("Configure the root volume to persist during
# instance launch": run-instances with a mapping that sets only DeleteOnTermination, user guide
# "Amazon EC2 instance root device volume",
# https://docs.amazonaws.cn/en_us/AWSEC2/latest/WindowsGuide/ec2-root-device-storage-windows.html).
# Here such a mapping takes the image's snapshot and size for that device.
try:
    from moto.ec2.responses.instances import InstanceResponse as _InstanceResponse

    _original_parse_bdm = _InstanceResponse._parse_block_device_mapping

    def _parse_bdm(self):
        mappings = self._get_param("BlockDeviceMappings", []) or []
        image_id = self._get_param("ImageId")
        bare = [m for m in mappings if isinstance(m.get("Ebs"), dict) and not m["Ebs"].get("VolumeSize") and not m["Ebs"].get("SnapshotId")]
        ami = self.ec2_backend.amis.get(image_id) if image_id and bare else None
        if ami is None:
            return _original_parse_bdm(self)
        of_image = {m.get("DeviceName"): (m.get("Ebs") or {}) for m in ami.block_device_mappings}
        for m in bare:
            ebs = of_image.get(m.get("DeviceName"))
            if ebs and ebs.get("SnapshotId"):
                m["Ebs"] = {**m["Ebs"], "SnapshotId": ebs["SnapshotId"], "VolumeSize": ebs.get("VolumeSize")}
        original_get = self._get_param
        self._get_param = lambda name, if_none=None: mappings if name == "BlockDeviceMappings" else original_get(name, if_none)
        try:
            return _original_parse_bdm(self)
        finally:
            del self._get_param

    _InstanceResponse._parse_block_device_mapping = _parse_bdm
except Exception:
    pass

# Gaps in what moto keeps of a launch (issue 14: a replacement is launched with the failed
# instance's whole configuration, and the tests check that it has each setting). moto's
# RunInstances ignores, and so never describes:
# - Placement GroupName, PartitionNumber, Tenancy, Affinity (DescribeInstances' Placement;
#   moto has no placement groups at all, so a name is kept unchecked);
# - CpuOptions (DescribeInstances' CpuOptions);
# - DisableApiTermination (DescribeInstanceAttribute disableApiTermination; TerminateInstances
#   then refuses, as moto already does for a protection set later);
# - CreditSpecification (DescribeInstanceCreditSpecifications answers "standard" for every
#   instance): a T2 launches standard, later T types unlimited, unless the launch says otherwise
#   ("Burstable performance instances": "T3 and T3a instances are launched as unlimited by
#   default", "T2 instances are launched as standard by default" ... "Unlimited mode concepts",
#   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/burstable-performance-instances-unlimited-mode-concepts.html);
# - each interface's SecondaryPrivateIpAddressCount (the interface gets its primary address only);
# - the spot request of a spot launch: EC2 makes one and the instance names it
#   (SpotInstanceRequestId; "When you launch a Spot Instance using RunInstances, a Spot Instance
#   request is created", SpotMarketOptions, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_SpotMarketOptions.html),
#   with the launch's price, type and interruption behaviour (defaults: one-time, terminate).
try:
    import re as _re
    from moto.core.responses import ActionResult as _LaunchResult
    from moto.ec2.models.spot_requests import LaunchSpecification as _SpotLaunchSpecification
    from moto.ec2.models.spot_requests import SpotInstanceRequest as _SpotInstanceRequest
    from moto.ec2.models.core import TaggedEC2Resource as _TaggedResource
    from moto.ec2.responses.instances import InstanceResponse as _InstanceResponse
    from moto.ec2.utils import random_spot_request_id as _random_spot_request_id

    _original_run_instances = _InstanceResponse.run_instances

    def _spot_request_for(backend, instance, options):
        request = _SpotInstanceRequest.__new__(_SpotInstanceRequest)
        _TaggedResource.__init__(request)
        request.ec2_backend = backend
        request.launch_specification = _SpotLaunchSpecification(
            kernel_id=None,
            ramdisk_id=None,
            image_id=instance.image_id,
            key_name=instance.key_name,
            instance_type=instance.instance_type,
            placement=instance.placement.zone,
            monitored=False,
            subnet_id=instance.subnet_id,
        )
        request.id = _random_spot_request_id()
        request.state = "active"
        request._status_code = "fulfilled"
        request.status_message = ""
        price = options.get("MaxPrice")
        request.price = f"{float(price):.6f}" if price else "0.100000"
        request.type = options.get("SpotInstanceType") or "one-time"
        request.valid_from = None
        request.valid_until = None
        request.launch_group = None
        request.availability_zone_group = None
        request.instance_interruption_behaviour = options.get("InstanceInterruptionBehavior") or "terminate"
        request.user_data = None
        request.spot_fleet_id = None
        request.launch_spec = None
        request.all_tags = {}
        request.instance = instance
        backend.spot_instance_requests[request.id] = request
        return request

    def _run_instances(self):
        answer = _original_run_instances(self)
        reservation = answer.result if isinstance(answer, _LaunchResult) else None
        if reservation is None:
            return answer
        placement = self._get_param("Placement", {}) or {}
        cpu = self._get_param("CpuOptions", {}) or {}
        credits = self._get_param("CreditSpecification.CpuCredits")
        nics = self._get_param("NetworkInterfaces", []) or []
        market = self._get_param("InstanceMarketOptions", {}) or {}
        for instance in reservation.instances:
            if placement.get("GroupName"):
                instance.placement.group_name = placement["GroupName"]
            if placement.get("PartitionNumber") is not None:
                instance.placement.partition_number = int(placement["PartitionNumber"])
            if placement.get("Tenancy"):
                instance.placement.tenancy = placement["Tenancy"]
            if placement.get("Affinity"):
                instance.placement.affinity = placement["Affinity"]
            if cpu:
                instance.cpu_options = {k: int(v) if k in ("CoreCount", "ThreadsPerCore") else v for k, v in cpu.items()}
            if str(self._get_param("DisableApiTermination")).lower() == "true":
                instance.disable_api_termination = True
            instance.harness_cpu_credits = credits
            for nic in nics:
                count = int(nic.get("SecondaryPrivateIpAddressCount") or 0)
                eni = instance.nics.get(int(nic.get("DeviceIndex", 0)))
                if count and eni is not None:
                    self.ec2_backend.assign_private_ip_addresses(eni.id, secondary_ips_count=count)
            if market.get("MarketType") == "spot":
                request = _spot_request_for(self.ec2_backend, instance, market.get("SpotOptions", {}) or {})
                instance.spot_instance_request_id = request.id
            # An interface the launch creates goes with the instance unless the request says
            # otherwise (moto keeps it, and its addresses stay taken): DeleteOnTermination is
            # true by default for the interfaces RunInstances creates ("If set to true, the
            # interface is deleted when the instance is terminated. You can specify true only if
            # creating a new network interface when launching an instance", InstanceNetworkInterfaceSpecification,
            # https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_InstanceNetworkInterfaceSpecification.html;
            # DescribeInstances shows Attachment.DeleteOnTermination true for them).
            asked = {int(n.get("DeviceIndex", 0)): n for n in nics}
            for index, eni in instance.nics.items():
                spec = asked.get(index, {})
                if not spec.get("NetworkInterfaceId") and str(spec.get("DeleteOnTermination", "true")).lower() == "true":
                    eni.delete_on_termination = True
        return answer

    from moto.ec2.models.instances import Instance as _LaunchedInstance

    _original_terminate = _LaunchedInstance.terminate

    def _terminate(self):
        answer = _original_terminate(self)
        # The instance's own hold on its primary address goes with it (its interface's went with the interface).
        subnet = self.ec2_backend.get_subnet(self.subnet_id) if self.subnet_id else None
        for ip in list(getattr(self, "_private_ips", ())):
            if subnet is not None:
                subnet.del_subnet_ip(ip)
        return answer

    _LaunchedInstance.terminate = _terminate

    _InstanceResponse.run_instances = _run_instances

    def _default_credits(instance_type):
        return "standard" if _re.match(r"^t2\.", instance_type or "") else "unlimited"

    def _describe_instance_credit_specifications(self):
        instances = self.ec2_backend.describe_instance_credit_specifications(instance_ids=self._get_param("InstanceIds", []))
        return _LaunchResult(
            {
                "InstanceCreditSpecifications": [
                    {"InstanceId": i.id, "CpuCredits": getattr(i, "harness_cpu_credits", None) or _default_credits(i.instance_type)}
                    for i in instances
                ]
            }
        )

    _InstanceResponse.describe_instance_credit_specifications = _describe_instance_credit_specifications
except Exception:
    pass

# Block public access for AMIs, where moto made any image public on request: "When block public
# access is enabled, any attempt to make an AMI public is automatically blocked. However, if you
# already have public AMIs, they remain publicly available" ("Understand block public access for
# AMIs", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-public-access-to-amis.html).
# While the state kept above is block-new-sharing (a new account's default), ModifyImageAttribute
# adding the group all is refused; removing it, and sharing with accounts, organizations and OUs,
# go on. AWS documents no error code for it: OperationNotPermitted and its message are the ones a
# real call answered (captured in hortonworks/cloudbreak-images PR #926).
try:
    from moto.ec2.exceptions import EC2ClientError as _Ec2ClientError
    from moto.ec2.responses.amis import AmisResponse as _AmisResponse

    class _PublicSharingBlocked(_Ec2ClientError):
        def __init__(self):
            super().__init__(
                "OperationNotPermitted",
                "You can't publicly share this image because block public access for AMIs is enabled for this account. "
                "To publicly share the image, you must call the DisableImageBlockPublicAccess API.",
            )

    _original_modify_image_attribute = _AmisResponse.modify_image_attribute

    def _modify_image_attribute(self):
        adds = self._get_param("LaunchPermission", {}).get("Add", []) or []
        groups = self._get_param("UserGroups", []) or []
        public = any(p.get("Group") == "all" for p in adds) or (self._get_param("OperationType") == "add" and "all" in groups)
        state = getattr(self.ec2_backend, "harness_image_block_public_access", "block-new-sharing")
        if public and state == "block-new-sharing" and self._get_param("DryRun") not in (True, "true"):
            raise _PublicSharingBlocked()
        return _original_modify_image_attribute(self)

    _AmisResponse.modify_image_attribute = _modify_image_attribute
except Exception:
    pass

# ModifySnapshotAttribute's CreateVolumePermission structure, which moto ignored (it read only
# OperationType with UserId.N / UserGroup.N): "CreateVolumePermission: A JSON representation of the
# snapshot attribute modification", its Add and Remove lists of UserId or Group (EC2 API reference,
# ModifySnapshotAttribute and CreateVolumePermissionModifications,
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySnapshotAttribute.html). AWS says
# adding and removing take separate calls, but documents no error code for a request that does both:
# that refusal is not emulated.
try:
    from moto.core.responses import EmptyResult as _EmptyResult
    from moto.ec2.responses.elastic_block_store import ElasticBlockStore as _EbsResponse

    _original_modify_snapshot_attribute = _EbsResponse.modify_snapshot_attribute

    def _modify_snapshot_attribute(self):
        structure = self._get_param("CreateVolumePermission", {}) or {}
        if not structure or self._get_param("OperationType"):
            return _original_modify_snapshot_attribute(self)
        self.error_on_dryrun()
        snapshot_id = self._get_param("SnapshotId")
        for verb, apply in (
            ("Add", self.ec2_backend.add_create_volume_permission),
            ("Remove", self.ec2_backend.remove_create_volume_permission),
        ):
            entries = structure.get(verb, []) or []
            users = [e["UserId"] for e in entries if e.get("UserId")]
            groups = [e["Group"] for e in entries if e.get("Group")]
            if users or groups:
                apply(snapshot_id, user_ids=users, groups=groups)
        return _EmptyResult()

    _EbsResponse.modify_snapshot_attribute = _modify_snapshot_attribute
except Exception:
    pass

# Gap: moto's Auto Scaling has no instance refresh (StartInstanceRefresh, DescribeInstanceRefreshes,
# CancelInstanceRefresh answer "not yet implemented"). Kept on moto's Auto Scaling backend, so
# resetting moto resets it. As the API reference documents them
# (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html):
# a group that does not exist is a ValidationError; a second refresh while one is active is
# InstanceRefreshInProgress ("The request failed because an active instance refresh already
# exists for the specified Auto Scaling group"); Cancel without an active one is
# ActiveInstanceRefreshNotFound. A refresh stays InProgress (no instance is replaced here:
# progress is not emulated) until cancelled.
try:
    import uuid as _refresh_uuid
    from moto.core.responses import ActionResult as _RefreshResult
    from moto.core.utils import utcnow as _refresh_now
    from moto.autoscaling.responses import AutoScalingResponse as _AsgResponse
    from moto.autoscaling.exceptions import AutoscalingClientError as _AsgError, ValidationError as _AsgValidation

    class _InstanceRefreshInProgress(_AsgError):
        code = "InstanceRefreshInProgress"

    class _ActiveInstanceRefreshNotFound(_AsgError):
        code = "ActiveInstanceRefreshNotFound"

    _ACTIVE_REFRESH = ("Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking")

    def _refreshes_of(backend, name):
        if name not in backend.autoscaling_groups:
            raise _AsgValidation(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")
        if not hasattr(backend, "harness_instance_refreshes"):
            backend.harness_instance_refreshes = {}
        return backend.harness_instance_refreshes.setdefault(name, [])

    def _start_instance_refresh(self):
        name = self._get_param("AutoScalingGroupName")
        refreshes = _refreshes_of(self.autoscaling_backend, name)
        if any(r["Status"] in _ACTIVE_REFRESH for r in refreshes):
            raise _InstanceRefreshInProgress(
                "The request failed because an active instance refresh already exists for the specified Auto Scaling group."
            )
        prefs = self._get_params().get("Preferences") or {}
        preferences = {}
        if "MinHealthyPercentage" in prefs:
            preferences["MinHealthyPercentage"] = int(prefs["MinHealthyPercentage"])
        if "SkipMatching" in prefs:
            preferences["SkipMatching"] = str(prefs["SkipMatching"]).lower() == "true"
        checkpoints = prefs.get("CheckpointPercentages")
        if checkpoints:
            preferences["CheckpointPercentages"] = [int(c) for c in (checkpoints if isinstance(checkpoints, list) else [checkpoints])]
        group = self.autoscaling_backend.autoscaling_groups[name]
        refresh = {
            "InstanceRefreshId": str(_refresh_uuid.uuid4()),
            "AutoScalingGroupName": name,
            "Status": "InProgress",
            "StartTime": _refresh_now(),
            "PercentageComplete": 0,
            "InstancesToUpdate": int(group.desired_capacity or 0),
            "Preferences": preferences,
            "Strategy": self._get_param("Strategy") or "Rolling",
        }
        refreshes.insert(0, refresh)
        return _RefreshResult({"InstanceRefreshId": refresh["InstanceRefreshId"]})

    def _describe_instance_refreshes(self):
        refreshes = _refreshes_of(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
        ids = self._get_param("InstanceRefreshIds", [])
        return _RefreshResult({"InstanceRefreshes": [r for r in refreshes if not ids or r["InstanceRefreshId"] in ids]})

    def _cancel_instance_refresh(self):
        refreshes = _refreshes_of(self.autoscaling_backend, self._get_param("AutoScalingGroupName"))
        active = [r for r in refreshes if r["Status"] in _ACTIVE_REFRESH]
        if not active:
            raise _ActiveInstanceRefreshNotFound("The request failed because an active instance refresh for the specified Auto Scaling group was not found.")
        active[0]["Status"] = "Cancelled"
        active[0]["EndTime"] = _refresh_now()
        return _RefreshResult({"InstanceRefreshId": active[0]["InstanceRefreshId"]})

    _AsgResponse.start_instance_refresh = _start_instance_refresh
    _AsgResponse.describe_instance_refreshes = _describe_instance_refreshes
    _AsgResponse.cancel_instance_refresh = _cancel_instance_refresh
except Exception:
    pass
