// The home for host-level services: a component created with DockerHost.serviceOptions is the
// host's child and its Docker resources run on the host's engine; it reaches an instance's nginx
// through PortalInstance.web, the instance's own network. Under the runtime's mocks, in-process
// (node's test runner gives each file its own process).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";

const registered: pulumi.runtime.MockResourceArgs[] = [];
// Before any resource module is loaded.
void pulumi.runtime.setMocks({
    newResource: (args) => { registered.push(args); return { id: `${args.name}-id`, state: args.inputs }; },
    call: () => ({}),
}, "housing-portal", "test", false);

const valueOf = <T>(o: pulumi.Output<T>): Promise<T> => (o as any).promise();

test("a host-level service runs on its host's engine and reaches nginx over the instance's network", async () => {
    const docker = await import("@pulumi/docker");
    const { DockerHost } = await import("../../components/dockerHost");
    const { PortalInstance } = await import("../../components/portalInstance");
    const { DEFAULT_IMAGES, DEFAULT_RESOURCES } = await import("../../components/config");

    const host = new DockerHost("host", { provider: "local" });
    const peru = new PortalInstance("peru", {
        instance: { name: "peru", domain: "peru.example.org", aliases: [], port: 8002, images: DEFAULT_IMAGES, database: { name: "portal", user: "portal" }, backendEnv: {}, resources: DEFAULT_RESOURCES, host: "main" },
        layout: { kind: "data-volume", dataRoot: "/mnt/data" },
        host,
        protectDatabase: false,
    });

    class Service extends pulumi.ComponentResource {
        readonly container: InstanceType<typeof docker.Container>;
        constructor(opts: pulumi.ComponentResourceOptions) {
            super("housing-portal:test:Service", "service", {}, opts);
            this.container = new docker.Container("service-proxy", {
                image: "proxy:1",
                networksAdvanced: [{ name: peru.web.network.name }],
                envs: [pulumi.interpolate`UPSTREAM=${peru.web.nginxName}:${peru.web.nginxPort}`],
            }, { parent: this });
        }
    }
    const service = new Service(host.serviceOptions);
    assert.match(await valueOf(service.urn), /housing-portal:host:DockerHost\$housing-portal:test:Service::service$/, "a child of the host");
    assert.match(await valueOf(service.container.urn), /housing-portal:test:Service\$docker:index\/container:Container::service-proxy$/);
    const args = registered.find((r) => r.name === "service-proxy")!;
    assert.match(args.provider ?? "", /::host-docker::/, "on the host's Docker engine, inherited from the host");
    assert.deepEqual(args.inputs.networksAdvanced, [{ name: "housing-portal-peru-net" }], "on the instance's own network");
    assert.deepEqual(args.inputs.envs, ["UPSTREAM=housing-portal-peru-nginx:80"], "nginx by its stable name and port");
    assert.equal(peru.web.nginxName, peru.hostNames.nginx);
});
