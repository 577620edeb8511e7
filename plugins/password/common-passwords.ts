/**
 * An offline list of the most common passwords (lower-cased), checked before
 * any network call. Source: the top of public breach-frequency lists
 * (SecLists "10-million-password-list-top-100" and NCSC's "PwnedPasswordsTop100k"),
 * restricted to entries of 8 characters or more, since shorter ones fail the
 * minimum length anyway.
 */
export const COMMON_PASSWORDS: ReadonlySet<string> = new Set([
  '12345678', '123456789', '1234567890', 'password', 'password1', 'password12', 'password123', 'passw0rd', 'p@ssw0rd', 'p@ssword',
  'qwertyuiop', 'qwerty123', 'qwerty12', '1q2w3e4r', '1q2w3e4r5t', '1qaz2wsx', 'zaq12wsx', 'iloveyou', 'iloveyou1', 'sunshine',
  'princess', 'football', 'baseball', 'welcome1', 'welcome123', 'superman', 'trustno1', 'starwars', 'whatever', 'computer',
  'michelle', 'jennifer', 'corvette', 'mercedes', 'liverpool', 'chelsea1', 'arsenal1', 'master123', 'letmein1', 'letmein123',
  'football1', 'monkey123', 'dragon123', 'shadow123', 'abc12345', 'abcd1234', 'abcdefgh', 'asdfghjkl', 'asdfasdf', 'zxcvbnm1',
  '11111111', '00000000', '88888888', '12341234', '123123123', '987654321', '87654321', '11223344', '12344321', '66666666',
  'qwertyui', 'q1w2e3r4', 'q1w2e3r4t5', 'changeme', 'changeme1', 'administrator', 'admin123', 'admin1234', 'root1234', 'test1234',
  'testtest', 'internet', 'samsung1', 'pokemon1', 'blink182', 'jordan23', 'michael1', 'charlie1', 'hello123', 'freedom1',
  'basketball', 'butterfly', 'chocolate', 'password!', 'passwort', 'motdepasse', 'azertyuiop', 'secret123', 'lovelove', 'ilovegod',
  'fuckyou1', 'access14', 'mustang1', 'harley12', 'batman123', 'maverick', 'matrix123', 'summer2024', 'winter2024', 'spring2024',
])
