// The Docker host the portal instances run on, and the way the program reaches it.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import * as command from "@pulumi/command";
import { hostScriptCommandLine, readHostFile } from "./hostFiles";

/** What a portal instance needs from its host. */
export interface InstanceHost {
    /** The Docker provider every Docker resource of the host uses. */
    readonly dockerProvider: docker.Provider;
    /** Runs a script from host/ on the host, once, with its settings in the environment. */
    runScript(name: string, script: string, env: Readonly<Record<string, string>>, opts: pulumi.CustomResourceOptions): pulumi.Resource;
}

export interface DockerHostArgs {
    /** "local": the Docker engine on the machine that runs Pulumi, reached through its socket. */
    readonly mode: "local";
    /** The engine's socket. */
    readonly dockerHost?: string;
}

export class DockerHost extends pulumi.ComponentResource implements InstanceHost {
    public readonly dockerProvider: docker.Provider;
    /** Where the engine is reached, e.g. unix:///var/run/docker.sock or ssh://root@203.0.113.10. */
    public readonly dockerEndpoint: pulumi.Output<string>;

    constructor(name: string, args: DockerHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:host:DockerHost", name, {}, opts);
        const endpoint = args.dockerHost ?? "unix:///var/run/docker.sock";
        this.dockerProvider = new docker.Provider(`${name}-docker`, { host: endpoint }, { parent: this });
        this.dockerEndpoint = pulumi.output(endpoint);
        this.registerOutputs({ dockerEndpoint: this.dockerEndpoint });
    }

    runScript(name: string, script: string, env: Readonly<Record<string, string>>, opts: pulumi.CustomResourceOptions): pulumi.Resource {
        return new command.local.Command(name, {
            create: hostScriptCommandLine(env, false),
            stdin: readHostFile(script),
        }, opts);
    }
}
