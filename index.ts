// housing-portal: composes the stack from its validated config. The pieces live in components/.
import * as pulumi from "@pulumi/pulumi";
import { loadSettings } from "./components/settings";
import { DockerHost } from "./components/dockerHost";
import { PortalInstance } from "./components/portalInstance";

const settings = loadSettings(__dirname);

const host = new DockerHost("host", { mode: "local" });

const instances = settings.instances.map((instance) => new PortalInstance(instance.name, {
    instance,
    layout: { kind: settings.layout, projectRoot: settings.provider === "local" ? settings.projectRoot : undefined, dataRoot: settings.dataRoot },
    host,
    protectDatabase: settings.provider !== "local",
}));

export const dockerEndpoint = host.dockerEndpoint;
export const portals = Object.fromEntries(settings.instances.map((inst, i) => [inst.name, {
    url: `http://${inst.domain}:${inst.port}`,
    containers: instances[i].containerNames,
    databaseVolume: instances[i].databaseVolume.name,
}]));
export const databasePasswords = pulumi.secret(Object.fromEntries(settings.instances.map((inst, i) => [inst.name, instances[i].databasePassword])));
