// Reads the running stack's config through Pulumi and validates it with the one config module.
// Bad config ends the run before any resource is registered, with one line per problem.
// Pulumi's config map holds every namespace (aws:region, ...), so an unknown one is refused here
// too. A secret written in plain text is not refused here: the program gets the decrypted value
// either way (only the SDK's internal isConfigSecret could tell); the offline plan, which reads
// the stack file, refuses it.
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigError, SecretKey, StackSettings, validateConfigMap } from "./config";

/** The validated settings of the stack being run; a RunError (no stack trace) on bad config. */
export function loadSettings(projectDir: string): StackSettings {
    const result = validateConfigMap(pulumi.runtime.allConfig(), { stack: pulumi.getStack(), projectDir });
    if (!result.ok) throw new pulumi.RunError(new ConfigError(result.problems).message);
    // A warning, not info: shown in every preview, and on stderr (not in the plan's JSON) under the offline plan.
    for (const note of result.notes) pulumi.log.warn(note);
    return result.settings;
}

/** A secret config value as an Output, or undefined when the stack does not set it. */
export function optionalSecret(key: SecretKey): pulumi.Output<string> | undefined {
    return new pulumi.Config(CONFIG_NAMESPACE).getSecret(key);
}

/** One backend secret (`backendSecrets.<instance>.<name>`), which the validated config names. */
export function backendSecret(instance: string, name: string): pulumi.Output<string> {
    const all = new pulumi.Config(CONFIG_NAMESPACE).requireSecretObject<Record<string, Record<string, string>>>("backendSecrets");
    return all.apply((secrets) => secrets[instance][name]);
}

/** A secret config value the validated config guarantees is set. */
export function requiredSecret(key: SecretKey): pulumi.Output<string> {
    return new pulumi.Config(CONFIG_NAMESPACE).requireSecret(key);
}

/** The alert webhook's URL (`alerts.webhookUrl`, a secret leaf the validated config says is set). */
export function alertWebhookUrl(): pulumi.Output<string> {
    return new pulumi.Config(CONFIG_NAMESPACE).requireSecretObject<{ webhookUrl: string }>("alerts").apply((a) => a.webhookUrl);
}
