// The CrossGuard policy pack, mandatory in the preview and deploy workflows:
// `pulumi preview --policy-pack policy`. The rules themselves live in rules.ts.
import { PolicyPack, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { DEFAULT_DATA_ROOT } from "../components/config";
import { PROJECT } from "../components/naming";
import { RESOURCE_RULES, STACK_RULES, ResourceView } from "./rules";

// CrossGuard's validation hooks get secrets decrypted and unmarked (pulumi/pulumi-policy#241):
// the rules that judge secretness run on the offline plans instead (test/unit/policy.test.ts).
const resourcePolicies: ResourceValidationPolicy[] = RESOURCE_RULES.filter((rule) => !rule.needsMarkedSecrets).map((rule) => ({
    name: rule.name,
    description: rule.description,
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const view: ResourceView = { type: args.type, name: args.name, props: args.props, protect: args.opts.protect };
        for (const violation of rule.check(view, DEFAULT_DATA_ROOT)) reportViolation(violation);
    },
}));

const stackPolicies: StackValidationPolicy[] = STACK_RULES.map((rule) => ({
    name: rule.name,
    description: rule.description,
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const views = args.resources.map((r): ResourceView => ({ type: r.type, name: r.name, props: r.props, protect: r.opts.protect }));
        for (const violation of rule.check(views)) reportViolation(violation);
    },
}));

new PolicyPack(PROJECT, { policies: [...resourcePolicies, ...stackPolicies] });
