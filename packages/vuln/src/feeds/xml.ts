import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { FeedError } from '../errors.js';

/** A parsed XML element: attributes under `@_name`, text under `#text`, children as arrays. */
export type XNode = { [key: string]: XNode[] | string | undefined };

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  alwaysCreateTextNode: true,
  processEntities: true,
  isArray: (_name, _path, _leaf, isAttribute) => !isAttribute,
});

/** Parses an XML document, refusing malformed or truncated input with a FeedError. */
export function parseXml(feed: string, text: string, file?: string): XNode {
  if (text.trim() === '') throw new FeedError(feed, 'empty', 'the file is empty', file);
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const rootName = /<([A-Za-z_][\w:.-]*)[\s>]/.exec(
      text.replace(/<\?[^>]*\?>|<!--[\s\S]*?-->/g, ''),
    )?.[1];
    const truncated = rootName === undefined || !text.trimEnd().endsWith(`</${rootName}>`);
    throw new FeedError(
      feed,
      truncated ? 'truncated' : 'corrupt',
      `invalid XML at line ${valid.err.line}: ${valid.err.msg}`,
      file,
    );
  }
  return parser.parse(text) as XNode;
}

export function kids(node: XNode | undefined, name: string): XNode[] {
  const v = node?.[name];
  return Array.isArray(v) ? v : [];
}

export function kid(node: XNode | undefined, name: string): XNode | undefined {
  return kids(node, name)[0];
}

export function attr(node: XNode | undefined, name: string): string | undefined {
  const v = node?.[`@_${name}`];
  return typeof v === 'string' ? v : undefined;
}

export function text(node: XNode | undefined): string {
  const v = node?.['#text'];
  return typeof v === 'string' ? v : '';
}

/** Child element names (no attributes, no text). */
export function childNames(node: XNode): string[] {
  return Object.keys(node).filter((k) => !k.startsWith('@_') && k !== '#text');
}
