/** A file name taken from archived data (an attachment's FileName), made safe to create inside a chosen folder. */
export function safeFileName(name: string): string {
  const cleaned = name.replace(/[/\\\x00-\x1f<>:"|?*]/g, '_').replace(/^\.+/, '_').trim();
  return (cleaned || 'unnamed').slice(0, 200);
}
