// A program for plan-aliases.test.ts: a component and a volume given aliases, one as a URN and
// one as a spec (a rename, and a move out of a component), as a renaming change would give them.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";

class Group extends pulumi.ComponentResource {
    constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:test:Group", name, {}, opts);
        this.registerOutputs({});
    }
}

const group = new Group("group");
new docker.Volume("renamed", { name: "data" }, { parent: group, aliases: [{ name: "original" }] });
new docker.Volume("moved", { name: "moved" }, { aliases: [{ parent: group }] });
new docker.Volume("by-urn", { name: "by-urn" }, { aliases: ["urn:pulumi:test::housing-portal::docker:index/volume:Volume::old-name"] });
