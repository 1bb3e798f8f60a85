/** The runtime's own error: configuration from the environment that cannot be read. */

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}
