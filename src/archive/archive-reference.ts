/** Archive references are the letters 'AR' followed by the form task's numeric id. */
export function formatArchiveReference(formTaskId: number): string {
  return `AR${formTaskId}`;
}

/** The form task id, or undefined when the text is not an archive reference we could have issued. */
export function parseArchiveReference(text: string | null | undefined): number | undefined {
  const match = /^AR([1-9][0-9]{0,15})$/i.exec((text ?? '').trim());
  if (!match) return undefined;
  const id = Number(match[1]);
  return Number.isSafeInteger(id) ? id : undefined;
}
