/**
 * Whether the account blocks public sharing of AMIs in a region, in the words `status` and `doctor`
 * print. Block public access for AMIs is per account and region: when it is on, "any attempt to make
 * an AMI public is automatically blocked", but AMIs already public stay public ("Understand block
 * public access for AMIs", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/block-public-access-to-amis.html).
 * How to turn it on: EnableImageBlockPublicAccess with block-new-sharing, which "can take up to 10
 * minutes" (API reference, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageBlockPublicAccess.html),
 * or the console's EC2 Dashboard, Account attributes, Data protection and security ("Manage the block
 * public access setting for AMIs", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/manage-block-public-access-for-amis.html).
 */
export interface PublicAccessView {
  region: string;
  /** block-new-sharing, unblocked, or unknown when it could not be read. */
  state: string;
  /** account, or declarative-policy (an organization's policy sets it; the account cannot change it). */
  managedBy?: string | undefined;
  blocked: boolean;
  summary: string;
  /** How to turn it on, when it is off. */
  fix?: string | undefined;
}

export function publicAccessView(
  region: string,
  read: { state: string | undefined; managedBy: string | undefined } | { error: string },
): PublicAccessView {
  if ('error' in read) {
    return {
      region,
      state: 'unknown',
      blocked: false,
      summary: `could not be read in ${region} (${read.error}): needs ec2:GetImageBlockPublicAccessState`,
    };
  }
  const state = read.state ?? 'unknown';
  const policy = read.managedBy === 'declarative-policy';
  const by = policy ? ' (set by a declarative policy of your organization)' : '';
  if (state === 'block-new-sharing') {
    return { region, state, managedBy: read.managedBy, blocked: true, summary: `on in ${region}: no image can be made public${by}` };
  }
  return {
    region,
    state,
    managedBy: read.managedBy,
    blocked: false,
    summary: `${state} in ${region}${by}: anyone with ec2:ModifyImageAttribute can make an image (and its data) public`,
    fix: policy
      ? "your organization's declarative policy for EC2 sets it: change it there (the account cannot)"
      : `aws ec2 enable-image-block-public-access --image-block-public-access-state block-new-sharing --region ${region}` +
        ' (or the EC2 console: Dashboard > Account attributes > Data protection and security > Block public access for AMIs > Manage;' +
        ' it takes up to 10 minutes)',
  };
}
