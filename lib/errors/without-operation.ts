/**
 * A registry error's message without the client's operation name in front (`resolveAlias: `):
 * that is for logs; a person (a CLI user, an API caller) reads what failed.
 */
export function withoutOperation(message: string): string {
  return message.replace(/^[a-z][A-Za-z]{2,40}: /, '');
}
