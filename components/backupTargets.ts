// Where a host's backups go besides its volume, and who is told when one fails: the off-site
// repository's secrets (the access key and the restic password) and the alert webhook's URL,
// written to root-only files on the host over SSH (never in user data, a command line or a
// bundle), restic installed on the host, the bucket when the stack creates it, and on AWS the
// email subscriptions of the alerts topic. The units and their settings come with the host's
// settings (backupSchedule.ts).
import * as pulumi from "@pulumi/pulumi";
import * as aws from "@pulumi/aws";
import * as digitalocean from "@pulumi/digitalocean";
import { AlertSettings, CloudProvider, OffsiteSettings } from "./config";
import { DockerHost } from "./dockerHost";
import { ALERT_WEBHOOK_URL_FILE, CloudNames, OFFSITE_CREDENTIALS_FILE, OFFSITE_PASSWORD_FILE } from "./naming";

/** How long S3 keeps an object version that restic's prune replaced or deleted. */
export const NONCURRENT_VERSION_DAYS = 30;
/** The packages the off-site copy needs on the host. */
export const OFFSITE_PACKAGES = ["restic"];

export interface OffsiteTargetArgs {
    /** Where the copies go and how long they are kept. */
    readonly settings: OffsiteSettings;
    /** The host's key to the bucket (offsiteAccessKeyId). */
    readonly accessKeyId: pulumi.Output<string>;
    /** That key's secret (offsiteSecretAccessKey). */
    readonly secretAccessKey: pulumi.Output<string>;
    /** The restic repository's password (offsitePassword). */
    readonly password: pulumi.Output<string>;
    /** digitalocean with create: the stack's Spaces key that creates the bucket (spacesAccessKeyId, spacesSecretAccessKey); never on the host. @default none */
    readonly spacesKey?: { readonly accessKeyId: pulumi.Output<string>; readonly secretAccessKey: pulumi.Output<string> };
}

export interface AlertTargetArgs {
    readonly settings: AlertSettings;
    /** The webhook's URL, when alerts.webhookUrl is set. */
    readonly webhookUrl?: pulumi.Output<string>;
    /** aws: the alerts topic (the SnapshotPolicy's), which the email addresses subscribe to. */
    readonly topic?: aws.sns.Topic;
}

export interface BackupTargetsArgs {
    readonly provider: CloudProvider;
    readonly stack: string;
    readonly names: CloudNames;
    /** The host whose units read the secrets. */
    readonly host: DockerHost;
    readonly offsite?: OffsiteTargetArgs;
    readonly alerts?: AlertTargetArgs;
}

/** The region of a DigitalOcean Spaces endpoint ("https://fra1.digitaloceanspaces.com" → "fra1"), or undefined. */
export function spacesRegion(endpoint: string): string | undefined {
    return /^https:\/\/([a-z]{3}[0-9])\.digitaloceanspaces\.com$/.exec(endpoint)?.[1];
}

/** The region of an S3 endpoint ("https://s3.eu-west-1.amazonaws.com" → "eu-west-1"), or undefined. */
export function s3Region(endpoint: string): string | undefined {
    return /^https:\/\/s3\.([a-z]{2}(-[a-z]+)+-\d)\.amazonaws\.com$/.exec(endpoint)?.[1];
}

/** The credentials file's text: only the two lines offsite-backup.sh accepts. */
export function offsiteCredentials(accessKeyId: string, secretAccessKey: string): string {
    return `AWS_ACCESS_KEY_ID=${accessKeyId}\nAWS_SECRET_ACCESS_KEY=${secretAccessKey}\n`;
}

export class BackupTargets extends pulumi.ComponentResource {
    /** The bucket the stack created (offsite.create). */
    public readonly bucket?: pulumi.CustomResource;

    constructor(name: string, args: BackupTargetsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("housing-portal:backup:BackupTargets", name, {}, opts);
        const o = args.offsite;
        if (o !== undefined) {
            args.host.runScript(`${name}-packages`, "install-packages.sh", { PACKAGES: OFFSITE_PACKAGES.join(" ") }, { parent: this });
            args.host.writeSecret(`${name}-offsite-credentials`, OFFSITE_CREDENTIALS_FILE,
                pulumi.all([o.accessKeyId, o.secretAccessKey]).apply(([id, key]) => offsiteCredentials(id, key)), { parent: this });
            args.host.writeSecret(`${name}-offsite-password`, OFFSITE_PASSWORD_FILE, o.password, { parent: this });
            if (o.settings.create) this.bucket = this.createBucket(name, args.provider, o, args.names);
        }
        const a = args.alerts;
        if (a?.webhookUrl !== undefined) args.host.writeSecret(`${name}-alert-webhook`, ALERT_WEBHOOK_URL_FILE, a.webhookUrl, { parent: this });
        if (a?.topic !== undefined) {
            a.settings.email.forEach((address, i) => new aws.sns.TopicSubscription(`${name}-alert-email-${i}`, {
                topic: a.topic!.arn,
                protocol: "email",
                endpoint: address,
            }, { parent: this }));
        }
        this.registerOutputs({});
    }

    /** The off-site bucket: private, protected (it holds the only copy outside the region). */
    private createBucket(name: string, provider: CloudProvider, o: OffsiteTargetArgs, names: CloudNames): pulumi.CustomResource {
        const s = o.settings;
        if (provider === "digitalocean") {
            // Spaces is S3: the DigitalOcean provider needs a Spaces key besides its API token. An
            // explicit provider gives the stack's Spaces key to this bucket alone, so the default
            // provider (the Droplet, the volume) never holds it; its token is the default's
            // (digitalocean:token, else DIGITALOCEAN_TOKEN).
            const key = o.spacesKey!;
            const spaces = new digitalocean.Provider(`${name}-bucket-spaces`, {
                token: new pulumi.Config("digitalocean").getSecret("token"),
                spacesAccessId: key.accessKeyId,
                spacesSecretKey: key.secretAccessKey,
            }, { parent: this });
            return new digitalocean.SpacesBucket(`${name}-bucket`, {
                name: s.bucket,
                region: spacesRegion(s.endpoint)!,
                acl: "private",
            }, { parent: this, provider: spaces, protect: true });
        }
        // In the endpoint's region, which is not the stack's: a copy off-site survives the loss of that region.
        const regional = { parent: this, provider: new aws.Provider(`${name}-bucket-region`, { region: s3Region(s.endpoint)! as aws.Region }, { parent: this }) };
        const bucket = new aws.s3.Bucket(`${name}-bucket`, { bucket: s.bucket, tags: { ...names.awsTags } }, { ...regional, protect: true });
        // Versions survive an overwrite or a delete with the access key, until restic's prune is the only remover.
        new aws.s3.BucketVersioning(`${name}-bucket-versioning`, { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }, regional);
        // ... and go 30 days after that, so pruned data does not stay billed forever.
        new aws.s3.BucketLifecycleConfiguration(`${name}-bucket-lifecycle`, {
            bucket: bucket.id,
            rules: [{ id: "expire-pruned-versions", status: "Enabled", filter: {}, noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_VERSION_DAYS } }],
        }, regional);
        new aws.s3.BucketPublicAccessBlock(`${name}-bucket-public-access`, {
            bucket: bucket.id, blockPublicAcls: true, blockPublicPolicy: true, ignorePublicAcls: true, restrictPublicBuckets: true,
        }, regional);
        return bucket;
    }
}
