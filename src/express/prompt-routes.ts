/** `/prompts` (versioned prompt templates) and `/workflow-templates`. */
import type { Router } from 'express';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import { NotFoundError, TrellisError } from '../kernel/errors.js';
import type { ResolvedRouterOptions } from './router-options.js';
import { catching, guard, IdSchema, param, promptView, VersionQuery } from './route-helpers.js';
import { parseBody, parseRequest } from './validate.js';
import { readable } from './visible-rows.js';
import { strip } from './workflow-routes.js';

const PromptFields = {
  name: z.string().min(1).max(200).optional(),
  template: z.string().min(1),
  system: z.string().optional(),
  variables: z.array(z.string().min(1)).optional(),
  provider_model: z.string().min(1).optional(),
};
const CreateBody = z.object({ id: IdSchema.regex(/^[A-Za-z0-9_.-]+$/, 'prompt ids are letters, digits, _ . or -'), ...PromptFields }).strict();
const UpdateBody = z.object(PromptFields).strict();
const IdParams = z.object({ id: IdSchema });
const NoQuery = z.object({}).strict();

/** Workflow templates, once the engine offers them (`engine.templates.list()`); until then the list is empty. */
interface TemplateSource {
  readonly templates?: { list(): Promise<readonly unknown[]> | readonly unknown[] };
}

/** Adds the `/prompts` and `/workflow-templates` routes to `router`. */
export function mountPromptRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  const { authorize } = options;
  const one = param('prompt', 'id');

  router.get('/workflow-templates', guard(authorize, 'template:list', () => ({ type: 'template' })), catching(async (req, res) => {
    parseRequest(NoQuery, req.query, 'query');
    const templates = (engine as unknown as TemplateSource).templates;
    res.json({ data: typeof templates?.list === 'function' ? await templates.list() : [] });
  }));

  router.get('/prompts', guard(authorize, 'prompt:list', () => ({ type: 'prompt' })), catching(async (req, res) => {
    parseRequest(NoQuery, req.query, 'query');
    res.json({ data: (await readable(authorize, req, 'prompt', await engine.prompts.list())).map(promptView) });
  }));

  router.post('/prompts', guard(authorize, 'prompt:create', () => ({ type: 'prompt' })), catching(async (req, res) => {
    const body = parseBody(CreateBody, req);
    if (await engine.prompts.get(body.id)) throw new TrellisError('conflict', `Prompt "${body.id}" already exists; PUT /prompts/${body.id} adds a version`);
    res.status(201).json(promptView(await engine.prompts.save(strip(body))));
  }));

  router.get('/prompts/:id', guard(authorize, 'prompt:read', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const { version } = parseRequest(VersionQuery, req.query, 'query');
    const record = await engine.prompts.get(id, version);
    if (!record) throw new NotFoundError(`Prompt "${id}"${version === undefined ? '' : ` version ${version}`} not found`);
    res.json(promptView(record));
  }));

  router.put('/prompts/:id', guard(authorize, 'prompt:update', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const body = parseBody(UpdateBody, req);
    if (!(await engine.prompts.get(id))) throw new NotFoundError(`Prompt "${id}" not found`);
    res.json(promptView(await engine.prompts.save({ id, ...strip(body) })));
  }));

  router.delete('/prompts/:id', guard(authorize, 'prompt:delete', one), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    if (!(await engine.prompts.get(id))) throw new NotFoundError(`Prompt "${id}" not found`);
    await engine.prompts.delete(id);
    res.status(204).end();
  }));
}
